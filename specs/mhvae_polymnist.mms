# mhvae on polymnist
# paper: Dorent, Haouchine, Kogl, Joutard, Juvekar, Torio, Golby, Ourselin, Frisken, Vercauteren, Kapur & Wells 2023, Unified Brain MR-Ultrasound Synthesis using Multi-Modal Hierarchical Representations (MHVAE, MICCAI)
# reproduces: MultiVae's MHVAE (multivae.models.MHVAE) with its default configuration (3 levels of latents, beta 1, posterior blocks shared by the modalities) and its trainer's 100 epochs, batch 64, Adam 1e-4, on PolyMNIST
# setting: PolyMNIST (5 modalities), latents z3 (top), z2, z1 (decoded) of 32 each, Laplace(0.75) images; MultiVae ships no MHVAE networks (they are the user's): here the PolyMNIST conv body gives the first skip feature, bottom-up and top-down blocks are one layer of 256 ReLU units, posterior and prior blocks Gaussian heads
# note: one ELBO per non-empty subset S of the modalities, averaged: q(z3 | X_S) = N(0, I)·Π_{m in S} q_m(z3 | x_m); q(z_l | X_S, z_{l+1}) = p(z_l | z_{l+1})·Π_{m in S} N(f_l[h_l, d_m^l]), h_l = t_l(z_{l+1}) the prior's top-down state; every modality decoded from z1 of q_S
# note: the KL of each subset is the sum over levels of closed-form KLs at one draw of the level above (MultiVae's estimator); MultiVae sums the loss over the batch, the spec averages it
# note: MultiVae's MHVAE leaves out the paper's adversarial loss (its docs say so); so does this spec

model mhvae_polymnist
data polymnist

param dim = 32
param width = 256
param beta = 1

latent z1: dim
latent z2: dim
latent z3: dim

prior p = ladder(z3, z2, z1, hidden=[width])      # p(z3) = N(0, I), p(z2 | z3), p(z1 | z2): top-down MLPs and heads

modality m0: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_conv, from z1
modality m1: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_conv, from z1
modality m2: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_conv, from z1
modality m3: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_conv, from z1
modality m4: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_conv, from z1

posterior q[S in subsets(*)] = ladder(p, S, width=width)    # a product of experts at every level

maximize mean S in subsets(*): (rec(q[S] -> *) - beta * kl(q[S] || p))

infer S = q[S]
train epochs 100, batch 64, optimizer adam(lr=1e-4)
evaluate coherence, latent_probe(samples=10000), fid
