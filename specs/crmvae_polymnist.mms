# crmvae on polymnist
# paper: seed 001: CRMVAE, Eq. 8 with pi_m = 1/(M+1)
# reproduces: seed 001 Table 1 (coherence) and Table 5 (latent probe)
# setting: PolyMNIST (5 modalities), MoPoE's setting: latent 512, Laplace(0.75), conv nets, Adam 5e-4, batch 256, 300 epochs
# note: q_J = PoE(p, q_1..q_M) and unimodal qt_m = PoE(p, q_m), as the paper uses PoE-aggregated unimodal posteriors

model crmvae_polymnist
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
posterior joint = poe(p, q[*])
posterior uni[m] = poe(p, q[m])

param beta = 1
param pi = 1 / (M + 1)

maximize
    pi/2 * rec(joint -> *)
  + pi/2 * sum m: rec(uni[m] -> m)
  - beta * pi * (kl(joint || p) + sum m: kl(joint || q[m]))

infer S = poe(p, q[S])

train epochs 300, batch 256, optimizer adam(lr=5e-4)
evaluate coherence, latent_probe(samples=10000), fid, elbo, nll(k=12)
