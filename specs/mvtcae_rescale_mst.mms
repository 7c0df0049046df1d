# mvtcae_rescale on mst
# paper: seed 001 (CRMVAE paper) appendix H: MVTCAE with rescaled reconstruction
# reproduces: seed 001 Table 1 (coherence) and the latent-probe table, MNIST-SVHN-Text
# setting: MNIST-SVHN-Text, seed 001's shared setting: latent 32, Laplace(0.75) images, categorical text, Adam 5e-4, batch 256, 100 epochs
# note: MVTCAE (seed 001's form) with the reconstruction multiplied by pi/2

model mvtcae_rescale_mst
data mst

param dim = 32
latent z: dim
prior p = normal()

modality mnist: image(1, 28, 28) ~ laplace(scale=0.75), net mst_mnist
modality svhn:  image(3, 32, 32) ~ laplace(scale=0.75), net mst_svhn
modality text:  text(8, 71)      ~ categorical,         net mst_text

posterior q[m] = encoder(m)
posterior joint = poe(q[*])

param beta = 1
param pi = 1 / (M + 1)

maximize pi/2 * rec(joint -> *) - beta * pi * (kl(joint || p) + sum m: kl(joint || q[m]))

infer S = poe(q[S])

train epochs 100, batch 256, optimizer adam(lr=5e-4)
evaluate coherence, latent_probe(samples=10000), levenshtein, fid, elbo, nll(k=12)
