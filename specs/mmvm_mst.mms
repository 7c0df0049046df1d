# mmvm on mst
# paper: Sutter et al. 2024, Unity by Diversity: Improved Representation Learning in Multimodal VAEs (MMVM VAE, seed 004)
# reproduces: seed 004 Fig. 2 (one point per beta; sweep beta with --set beta=...)
# setting: MNIST-SVHN-Text, seed 001's shared setting: latent 32, Laplace(0.75) images, categorical text, Adam 5e-4, batch 256, 100 epochs
# note: one latent per modality; the prior of z_m is the mixture h(z_m|X) = (1/M) sum_m' q_m'(z_m|x_m')
# note: Jensen bound (1/M) sum_m' KL(q_m || q_m') with gradients into both sides, as the official code; estimator=mc gives the exact KL
# note: evaluation given several modalities uses the mixture of their unimodal posteriors

model mmvm_mst
data mst

param dim = 32
latent z[m]: dim

modality mnist: image(1, 28, 28) ~ laplace(scale=0.75), net mst_mnist
modality svhn:  image(3, 32, 32) ~ laplace(scale=0.75), net mst_svhn
modality text:  text(8, 71)      ~ categorical,         net mst_text

posterior q[m] = encoder(m)
prior h[m] = moe(q[*]) on z[m]

param beta = 1

maximize sum m: rec(q[m] -> m) - beta * sum m: kl(q[m] || h[m], estimator=jensen)

infer S = moe(q[S])

train epochs 100, batch 256, optimizer adam(lr=5e-4)
evaluate coherence, latent_probe(samples=10000), levenshtein, fid, elbo, nll(k=12)
