# mmvm on polymnist
# paper: Sutter et al. 2024, Unity by Diversity: Improved Representation Learning in Multimodal VAEs (MMVM VAE, seed 004)
# reproduces: seed 004 Fig. 2 (one point per beta; sweep beta with --set beta=...)
# setting: PolyMNIST (5 modalities), MoPoE's setting: latent 512, Laplace(0.75), conv nets, Adam 5e-4, batch 256, 300 epochs
# note: one latent per modality; the prior of z_m is the mixture h(z_m|X) = (1/M) sum_m' q_m'(z_m|x_m')
# note: Jensen bound (1/M) sum_m' KL(q_m || q_m') with gradients into both sides, as the official code; estimator=mc gives the exact KL
# note: evaluation given several modalities uses the mixture of their unimodal posteriors

model mmvm_polymnist
data polymnist

param dim = 512
latent z[m]: dim

modality m0: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_resnet
modality m1: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_resnet
modality m2: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_resnet
modality m3: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_resnet
modality m4: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_resnet

posterior q[m] = encoder(m)
prior h[m] = moe(q[*]) on z[m]

param beta = 1

maximize sum m: rec(q[m] -> m) - beta * sum m: kl(q[m] || h[m], estimator=jensen)

infer S = moe(q[S])

train epochs 300, batch 128, optimizer adam(lr=5e-4)
evaluate coherence, latent_probe(samples=10000), fid, elbo, nll(k=12)
