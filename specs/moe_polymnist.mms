# moe on polymnist
# paper: Shi et al. 2019 (MMVAE objective), as an MMVM (seed 004) baseline
# reproduces: coherence and latent probe on PolyMNIST (MoPoE / MultiVae README numbers)
# setting: PolyMNIST (5 modalities), MoPoE's setting: latent 512, Laplace(0.75), conv nets, Adam 5e-4, batch 256, 300 epochs
# note: the ELBO form with closed-form KLs; the IWAE/DReG form is mmvae_dreg (issue 5)

model moe_polymnist
data polymnist

param dim = 512
latent z: dim
prior p = normal()

modality m0: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_conv
modality m1: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_conv
modality m2: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_conv
modality m3: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_conv
modality m4: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_conv

posterior q[m] = encoder(m)

param beta = 1

# every unimodal posterior reconstructs every modality (cross-generation)
maximize mean m: (rec(q[m] -> *) - beta * kl(q[m] || p))

infer S = moe(q[S])

train epochs 300, batch 256, optimizer adam(lr=5e-4)
evaluate coherence, latent_probe(samples=10000), fid, elbo, nll(k=12)
