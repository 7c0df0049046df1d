# smvgon on mst
# paper: seed 002: SMVAE with a variational gradient-origin surrogate posterior (SMVGON)
# reproduces: seed 002 Table 1 (latent probe), the SMVGON row beside SMVAE
# setting: MNIST-SVHN-Text, seed 002's setting: latent 32, Laplace(0.75) images, categorical text, likelihoods rescaled to the largest modality, Adam 1e-3, batch 256, beta 1, 100 epochs
# note: q_L comes from one gradient step at the origin (methods.md 15): z0 = 0, z0' = z0 + grad_z0 L(ql(z0)), ql = N(mu(z0'), exp lv(z0')) with trainable linear heads mu, lv; L is the surrogate's own ELBO over all modalities
# note: training backpropagates through the gradient step (second order, create_graph=True), so the decoders learn from how their gradient at the origin shapes q_L
# note: as in SMVAE, q_S = PoE over S is pulled towards q_L and test-time inference uses q_S

model smvgon_mst
data mst

param dim = 32
latent z: dim
prior p = normal()

modality mnist: image(1, 28, 28) ~ laplace(scale=0.75), net mst_mnist, weight rescale
modality svhn:  image(3, 32, 32) ~ laplace(scale=0.75), net mst_svhn, weight rescale
modality text:  text(8, 71)      ~ categorical,         net mst_text, weight rescale

posterior q[m] = encoder(m)
posterior ql = gradient_origin(maximize=elbo(ql -> *))
posterior qs[S in subsets(*)] = poe(q[S])

param beta = 1

maximize elbo(ql) - beta / 2^M * sum S in subsets(*): kl(qs[S] || ql)

infer S = poe(q[S])

train epochs 100, batch 256, optimizer adam(lr=1e-3)
evaluate coherence, latent_probe(samples=10000), levenshtein, fid, elbo, nll(k=12)
