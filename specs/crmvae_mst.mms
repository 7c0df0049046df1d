# crmvae on mst
# paper: seed 001: CRMVAE, Eq. 8 with pi_m = 1/(M+1)
# reproduces: seed 001 Table 1 (coherence) and Table 5 (latent probe)
# setting: MNIST-SVHN-Text, seed 001's shared setting: latent 32, Laplace(0.75) images, categorical text, Adam 5e-4, batch 256, 100 epochs
# note: q_J = PoE(p, q_1..q_M) and unimodal qt_m = PoE(p, q_m), as the paper uses PoE-aggregated unimodal posteriors

model crmvae_mst
data mst

param dim = 32
latent z: dim
prior p = normal()

modality mnist: image(1, 28, 28) ~ laplace(scale=0.75), net mst_mnist
modality svhn:  image(3, 32, 32) ~ laplace(scale=0.75), net mst_svhn
modality text:  text(8, 71)      ~ categorical,         net mst_text

posterior q[m] = encoder(m)
posterior joint = poe(p, q[*])
posterior uni[m] = poe(p, q[m])

param beta = 1
param pi = 1 / (M + 1)
param batch = 256
param lr = 5e-4

maximize
    pi/2 * rec(joint -> *)
  + pi/2 * sum m: rec(uni[m] -> m)
  - beta * pi * (kl(joint || p) + sum m: kl(joint || q[m]))

infer S = poe(p, q[S])

train epochs 100, batch batch, optimizer adam(lr=lr)
evaluate coherence, latent_probe(samples=10000), levenshtein, fid, elbo, nll(k=12)
