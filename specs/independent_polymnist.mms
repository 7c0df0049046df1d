# independent on polymnist
# paper: Sutter et al. 2024, MMVM VAE (seed 004): independent-VAE baseline
# reproduces: coherence and latent probe on PolyMNIST (MoPoE / MultiVae README numbers)
# setting: PolyMNIST (5 modalities), MoPoE's setting: latent 512, Laplace(0.75), conv nets, Adam 5e-4, batch 256, 300 epochs
# note: one latent per modality; each VAE sees and reconstructs only its own modality
# note: evaluation given several modalities uses the mixture of their unimodal posteriors

model independent_polymnist
data polymnist

param dim = 512
latent z[m]: dim
prior p = normal()

modality m0: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_conv
modality m1: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_conv
modality m2: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_conv
modality m3: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_conv
modality m4: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_conv

posterior q[m] = encoder(m)

param beta = 1

maximize sum m: (rec(q[m] -> m) - beta * kl(q[m] || p))

infer S = moe(q[S])

train epochs 300, batch 256, optimizer adam(lr=5e-4)
evaluate coherence, latent_probe(samples=10000), fid, elbo, nll(k=12)
