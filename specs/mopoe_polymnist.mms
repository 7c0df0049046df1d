# mopoe on polymnist
# paper: Sutter et al. 2021, Generalized Multimodal ELBO (MoPoE-VAE)
# reproduces: coherence and latent probe on PolyMNIST (MoPoE / MultiVae README numbers)
# setting: PolyMNIST (5 modalities), MoPoE's setting: latent 512, Laplace(0.75), conv nets, Adam 5e-4, batch 256, 300 epochs
# note: the official code adds the prior expert to the full set's product only; this spec follows the paper (no prior expert in any subset)
# note: reconstruction of the mixture: every subset posterior decodes every modality (exact expectation, not the code's stratified batch split)

model mopoe_polymnist
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
posterior qs[S in subsets(*)] = poe(q[S])

param beta = 1

maximize mean S in subsets(*): (rec(qs[S] -> *) - beta * kl(qs[S] || p))

infer S = poe(q[S])

train epochs 300, batch 256, optimizer adam(lr=5e-4)
evaluate coherence, latent_probe(samples=10000), fid, elbo, nll(k=12)
