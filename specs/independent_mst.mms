# independent on mst
# paper: Sutter et al. 2024, MMVM VAE (seed 004): independent-VAE baseline
# reproduces: seed 001 Table 1 (coherence) and the latent-probe table, MNIST-SVHN-Text
# setting: MNIST-SVHN-Text, seed 001's shared setting: latent 32, Laplace(0.75) images, categorical text, Adam 5e-4, batch 256, 100 epochs
# note: one latent per modality; each VAE sees and reconstructs only its own modality
# note: evaluation given several modalities uses the mixture of their unimodal posteriors

model independent_mst
data mst

param dim = 32
latent z[m]: dim
prior p = normal()

modality mnist: image(1, 28, 28) ~ laplace(scale=0.75), net mst_mnist
modality svhn:  image(3, 32, 32) ~ laplace(scale=0.75), net mst_svhn
modality text:  text(8, 71)      ~ categorical,         net mst_text

posterior q[m] = encoder(m)

param beta = 1

maximize sum m: (rec(q[m] -> m) - beta * kl(q[m] || p))

infer S = moe(q[S])

train epochs 100, batch 256, optimizer adam(lr=5e-4)
evaluate coherence, latent_probe(samples=10000), levenshtein, fid, elbo, nll(k=12)
