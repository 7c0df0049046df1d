# mvae on mst
# paper: Wu & Goodman 2018, Multimodal Generative Models for Scalable Weakly-Supervised Learning (MVAE)
# reproduces: seed 001 Table 1 baseline
# setting: MNIST-SVHN-Text, seed 001's shared setting: latent 32, Laplace(0.75) images, categorical text, Adam 5e-4, batch 256, 100 epochs
# note: joint ELBO plus one ELBO per modality, each reconstructing only its own modality (unimodal NLL weight 1, as in the MoPoE code)

model mvae_mst
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

maximize elbo(joint, beta=beta) + sum m: elbo(uni[m] -> m, beta=beta)

infer S = poe(p, q[S])

train epochs 100, batch 256, optimizer adam(lr=5e-4)
evaluate coherence, latent_probe(samples=10000), levenshtein, fid, elbo, nll(k=12)
