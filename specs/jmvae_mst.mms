# jmvae on mst
# paper: Suzuki et al. 2016, Joint Multimodal Learning with Deep Generative Models (JMVAE-kl)
# reproduces: seed 001 Table 1 baseline
# setting: MNIST-SVHN-Text, seed 001's shared setting: latent 32, Laplace(0.75) images, categorical text, Adam 5e-4, batch 256, 100 epochs
# note: joint encoder: each modality's encoder body, concatenated, then a 512-unit layer and Gaussian heads
# note: alpha = 0.1, MultiVae's default; missing modalities use the PoE of the given unimodal encoders (one modality: q_m itself)

model jmvae_mst
data mst

param dim = 32
latent z: dim
prior p = normal()

modality mnist: image(1, 28, 28) ~ laplace(scale=0.75), net mst_mnist
modality svhn:  image(3, 32, 32) ~ laplace(scale=0.75), net mst_svhn
modality text:  text(8, 71)      ~ categorical,         net mst_text

posterior q[m] = encoder(m)
posterior qj = encoder(*, hidden=[512])

param alpha = 0.1

maximize rec(qj -> *) - kl(qj || p) - alpha * sum m: kl(qj || q[m])

infer * = qj
infer S = poe(q[S])

train epochs 100, batch 256, optimizer adam(lr=5e-4)
evaluate coherence, latent_probe(samples=10000), levenshtein, fid, elbo, nll(k=12)
