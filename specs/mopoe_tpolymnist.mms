# mopoe on tpolymnist
# paper: Sutter et al. 2021, Generalized Multimodal ELBO (MoPoE-VAE)
# reproduces: seed 004's translated-PolyMNIST comparison (MMVM VAE and baselines)
# setting: translated PolyMNIST, MMVM's setting: 3 views, ResNet nets, latent 512, Adam 5e-4, batch 128
# note: the official code adds the prior expert to the full set's product only; this spec follows the paper (no prior expert in any subset)
# note: reconstruction of the mixture: every subset posterior decodes every modality (exact expectation, not the code's stratified batch split)

model mopoe_tpolymnist
data tpolymnist

param dim = 512
latent z: dim
prior p = normal()

modality m0: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_resnet
modality m1: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_resnet
modality m2: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_resnet

posterior q[m] = encoder(m)
posterior qs[S in subsets(*)] = poe(q[S])

param beta = 1

maximize mean S in subsets(*): (rec(qs[S] -> *) - beta * kl(qs[S] || p))

infer S = poe(q[S])

train epochs 300, batch 128, optimizer adam(lr=5e-4)
evaluate coherence, latent_probe(samples=10000), fid, elbo
