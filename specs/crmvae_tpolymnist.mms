# crmvae on tpolymnist
# paper: seed 001: CRMVAE, Eq. 8 with pi_m = 1/(M+1)
# reproduces: seed 001 Figure 2 (right pair: Translated-PolyMNIST; coherence and FID by number of given modalities) and Figure 6
# setting: Translated-PolyMNIST (5 modalities), seed 001's setting: latent 512, Laplace(0.75), ResNet nets (Daunhawer et al.), beta 0.1, Adam 5e-4, batch 256, 500 epochs
# note: q_J = PoE(p, q_1..q_M) and unimodal qt_m = PoE(p, q_m), as the paper uses PoE-aggregated unimodal posteriors

model crmvae_tpolymnist
data tpolymnist

param dim = 512
latent z: dim
prior p = normal()

modality m0: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_resnet
modality m1: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_resnet
modality m2: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_resnet
modality m3: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_resnet
modality m4: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_resnet

posterior q[m] = encoder(m)
posterior joint = poe(p, q[*])
posterior uni[m] = poe(p, q[m])

param beta = 0.1
param pi = 1 / (M + 1)

maximize
    pi/2 * rec(joint -> *)
  + pi/2 * sum m: rec(uni[m] -> m)
  - beta * pi * (kl(joint || p) + sum m: kl(joint || q[m]))

infer S = poe(p, q[S])

train epochs 500, batch 256, optimizer adam(lr=5e-4)
evaluate coherence, latent_probe(samples=10000), fid, elbo, nll(k=12)
