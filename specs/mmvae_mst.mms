# mmvae on mst
# paper: Shi et al. 2019, Variational Mixture-of-Experts Autoencoders (MMVAE), ELBO version
# reproduces: seed 001 Table 1 (coherence) and the latent-probe table, MNIST-SVHN-Text
# setting: MNIST-SVHN-Text, seed 001's shared setting: latent 32, Laplace(0.75) images, categorical text, Adam 5e-4, batch 256, 100 epochs
# note: the paper trains with DReG, K = 30 and Laplace posteriors: see mmvae_dreg (issue 5)
# note: written with the mixture itself: rec of a mixture is the mean of its components' recs, and the Jensen bound of KL(mixture || p) is the mean of the components' KLs, so this expands to the same terms as moe

model mmvae_mst
data mst

param dim = 32
latent z: dim
prior p = normal()

modality mnist: image(1, 28, 28) ~ laplace(scale=0.75), net mst_mnist
modality svhn:  image(3, 32, 32) ~ laplace(scale=0.75), net mst_svhn
modality text:  text(8, 71)      ~ categorical,         net mst_text

posterior q[m] = encoder(m)
posterior mix = moe(q[*])

param beta = 1

maximize rec(mix -> *) - beta * kl(mix || p, estimator=jensen)

infer S = moe(q[S])

train epochs 100, batch 256, optimizer adam(lr=5e-4)
evaluate coherence, latent_probe(samples=10000), levenshtein, fid, elbo, nll(k=12)
