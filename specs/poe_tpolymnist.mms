# poe on tpolymnist
# paper: Wu & Goodman 2018 style PoE VAE, as an MMVM (seed 004) baseline and seed 000's alignment source
# reproduces: seed 004's translated-PolyMNIST comparison (MMVM VAE and baselines)
# setting: translated PolyMNIST, MMVM's setting: 3 views, ResNet nets, latent 512, Adam 5e-4, batch 128
# note: the prior is an expert of the product: q(z|X) ∝ p(z) prod_m q_m(z|x_m)

model poe_tpolymnist
data tpolymnist

param dim = 512
latent z: dim
prior p = normal()

modality m0: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_resnet
modality m1: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_resnet
modality m2: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_resnet

posterior q[m] = encoder(m)
posterior joint = poe(p, q[*])

param beta = 1

maximize elbo(joint, beta=beta)

infer S = poe(p, q[S])

train epochs 300, batch 128, optimizer adam(lr=5e-4)
evaluate coherence, latent_probe(samples=10000), fid, elbo
