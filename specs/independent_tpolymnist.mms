# independent on tpolymnist
# paper: Sutter et al. 2024, MMVM VAE (seed 004): independent-VAE baseline
# reproduces: seed 004's translated-PolyMNIST comparison (MMVM VAE and baselines)
# setting: translated PolyMNIST, MMVM's setting: 3 views, ResNet nets, latent 512, Adam 5e-4, batch 128
# note: one latent per modality; each VAE sees and reconstructs only its own modality
# note: evaluation given several modalities uses the mixture of their unimodal posteriors

model independent_tpolymnist
data tpolymnist

param dim = 512
latent z[m]: dim
prior p = normal()

modality m0: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_resnet
modality m1: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_resnet
modality m2: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_resnet

posterior q[m] = encoder(m)

param beta = 1

maximize sum m: (rec(q[m] -> m) - beta * kl(q[m] || p))

infer S = moe(q[S])

train epochs 300, batch 128, optimizer adam(lr=5e-4)
evaluate coherence, latent_probe(samples=10000), fid, elbo
