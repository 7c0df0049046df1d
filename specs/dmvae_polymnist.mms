# dmvae on polymnist
# paper: Lee & Pavlovic 2021, Private-Shared Disentangled Multimodal VAE for Learning of Latent Representations (CVPR Workshops 2021)
# reproduces: MultiVae's DMVAE with its default config (beta 1, private betas 1), on PolyMNIST
# setting: PolyMNIST (5 modalities), shared latent z of 32 and one private latent w[m] of 32 per modality, Laplace(0.75) images, conv nets, Adam 1e-3, batch 256
# note: M + 1 ELBOs: the shared latent from the PoE of the prior and every shared expert, and from each shared expert alone; each decodes every modality m from (z, w[m]) with w[m] from m's private posterior, and each has every private KL (so they count M + 1 times)
# note: MultiVae draws the private latents afresh in each of the M + 1 ELBOs, mmspec once per step for all of them: the same expectation
# note: mmspec's PoE adds 1e-8 to each expert's variance (the MoPoE code), MultiVae's stable_poe does not
# note: encoders: one network per modality with heads for z and for w[m] (MultiVae's multi-latent encoders)

model dmvae_polymnist
data polymnist

param dim = 32
param wdim = 32
latent z: dim
latent w[m]: wdim
prior p = normal()

modality m0: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_conv, from (z, w[m0])
modality m1: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_conv, from (z, w[m1])
modality m2: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_conv, from (z, w[m2])
modality m3: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_conv, from (z, w[m3])
modality m4: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_conv, from (z, w[m4])

posterior q[m] = encoder(m) on (z, w[m])     # one network, heads for z and w[m]
posterior qz[m] = q[m] on z
posterior qw[m] = q[m] on w[m]
posterior joint = poe(p, qz[*])
posterior c = (joint, qw[*])                 # shared from the joint, every private latent from its own posterior
posterior u[m] = (qz[m], qw[*])              # shared from one modality alone

param beta = 1
param private_beta = 1

maximize rec(c -> *) - beta * kl(joint || p)
       + sum m: (rec(u[m] -> *) - beta * kl(qz[m] || p))
       - (M + 1) * private_beta * sum m: kl(qw[m] || p)

infer S = (poe(p, qz[S]), qw[S])
train epochs 150, batch 256, optimizer adam(lr=1e-3)
evaluate coherence, latent_probe(samples=10000), fid, elbo
