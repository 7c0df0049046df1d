# moe on tpolymnist
# paper: Shi et al. 2019 (MMVAE objective), as an MMVM (seed 004) baseline
# reproduces: seed 004's translated-PolyMNIST comparison (MMVM VAE and baselines)
# setting: translated PolyMNIST, MMVM's setting: 3 views, ResNet nets, latent 512, Adam 5e-4, batch 128
# note: the ELBO form with closed-form KLs; the IWAE/DReG form is mmvae_dreg (issue 5)

model moe_tpolymnist
data tpolymnist

param dim = 512
latent z: dim
prior p = normal()

modality m0: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_resnet
modality m1: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_resnet
modality m2: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_resnet

posterior q[m] = encoder(m)

param beta = 1

# every unimodal posterior reconstructs every modality (cross-generation)
maximize mean m: (rec(q[m] -> *) - beta * kl(q[m] || p))

infer S = moe(q[S])

train epochs 300, batch 128, optimizer adam(lr=5e-4)
evaluate coherence, latent_probe(samples=10000), fid, elbo
