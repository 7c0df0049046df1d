# crmvae_multivae on mst
# paper: seed 001: CRMVAE as reimplemented in MultiVae (its loss weights)
# reproduces: the MultiVae benchmark configuration (used by `mmspec bench --against multivae`)
# setting: MNIST-SVHN-Text, seed 001's shared setting: latent 32, Laplace(0.75) images, categorical text, Adam 5e-4, batch 256, 100 epochs
# note: MultiVae: no prior expert, reconstructions divided by 2(M+1), divergences by (M+1), beta 2.5
# note: unimodal reconstructions decode from q_m itself (no PoE with the prior)

model crmvae_multivae_mst
data mst

param dim = 32
latent z: dim
prior p = normal()

modality mnist: image(1, 28, 28) ~ laplace(scale=0.75), net mst_mnist
modality svhn:  image(3, 32, 32) ~ laplace(scale=0.75), net mst_svhn
modality text:  text(8, 71)      ~ categorical,         net mst_text

posterior q[m] = encoder(m)
posterior joint = poe(q[*])

param beta = 2.5

maximize
    rec(joint -> *) / (2 * (M + 1))
  + sum m: rec(q[m] -> m) / (2 * (M + 1))
  - beta / (M + 1) * (kl(joint || p) + sum m: kl(joint || q[m]))

infer S = poe(q[S])

train epochs 100, batch 256, optimizer adam(lr=5e-4)
evaluate coherence, latent_probe(samples=10000), levenshtein, fid, elbo, nll(k=12)
