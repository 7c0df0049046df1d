# mmvm on tpolymnist
# paper: Sutter et al. 2024, Unity by Diversity: Improved Representation Learning in Multimodal VAEs (MMVM VAE, seed 004)
# reproduces: seed 004's translated-PolyMNIST comparison (MMVM VAE and baselines)
# setting: translated PolyMNIST, MMVM's setting: 3 views, ResNet nets, latent 512, Adam 5e-4, batch 128
# note: one latent per modality; the prior of z_m is the mixture h(z_m|X) = (1/M) sum_m' q_m'(z_m|x_m')
# note: Jensen bound (1/M) sum_m' KL(q_m || q_m') with gradients into both sides, as the official code; estimator=mc gives the exact KL
# note: evaluation given several modalities uses the mixture of their unimodal posteriors

model mmvm_tpolymnist
data tpolymnist

param dim = 512
latent z[m]: dim

modality m0: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_resnet
modality m1: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_resnet
modality m2: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_resnet

posterior q[m] = encoder(m)
prior h[m] = moe(q[*]) on z[m]

param beta = 1

maximize sum m: rec(q[m] -> m) - beta * sum m: kl(q[m] || h[m], estimator=jensen)

infer S = moe(q[S])

train epochs 300, batch 128, optimizer adam(lr=5e-4)
evaluate coherence, latent_probe(samples=10000), fid, elbo
