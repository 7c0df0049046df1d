# smvae on mst
# paper: seed 002: SMVAE, a surrogate joint posterior trained end to end
# reproduces: seed 002 Table 1 (latent probe)
# setting: MNIST-SVHN-Text, seed 001's shared setting: latent 32, Laplace(0.75) images, categorical text, Adam 5e-4, batch 256, 100 epochs
# note: likelihoods divided by each modality's dimension and multiplied by the largest (weight rescale)
# note: end to end, as the paper's appendix D recommends over two stages; test-time inference uses q_S = PoE over S

model smvae_mst
data mst

param dim = 32
latent z: dim
prior p = normal()

modality mnist: image(1, 28, 28) ~ laplace(scale=0.75), net mst_mnist, weight rescale
modality svhn:  image(3, 32, 32) ~ laplace(scale=0.75), net mst_svhn, weight rescale
modality text:  text(8, 71)      ~ categorical,         net mst_text, weight rescale

posterior q[m] = encoder(m)
posterior ql = encoder(*, hidden=[512])
posterior qs[S in subsets(*)] = poe(q[S])

param beta = 1

maximize elbo(ql) - beta / 2^M * sum S in subsets(*): kl(qs[S] || ql)

infer S = poe(q[S])

train epochs 100, batch 256, optimizer adam(lr=1e-3)
evaluate coherence, latent_probe(samples=10000), levenshtein, fid, elbo, nll(k=12)
