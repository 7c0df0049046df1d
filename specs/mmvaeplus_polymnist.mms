# mmvaeplus on polymnist
# paper: Palumbo, Daunhawer & Vogt 2023, MMVAE+: Enhancing the Generative Quality of Multimodal VAEs without Compromises (ICLR 2023)
# reproduces: MultiVae's MMVAEPlus with its default config (K = 10, DReG looser, Laplace posteriors and priors, learned private priors, beta 1)
# setting: PolyMNIST (5 modalities), shared latent z of 32 and one private latent w[m] of 32 per modality, Laplace(0.75) images, conv nets, Adam 1e-3, batch 256
# note: each decoder reads (z, w[m]); decoding m from modality j's posterior draws w[m] from its learned prior r[m] (the paper's auxiliary prior), one draw per (posterior, target) as MultiVae does
# note: the density of the mixture at a draw (z, w[j]) of component j is (1/M sum_i qz[i](z))·qw[j](w[j]) (MultiVae's log q(u|X) + log q(w|x_j))
# note: MultiVae's fixed shared prior has scale softmax(0)·D + 1e-6 = 1 + 1e-6, written as such; its private priors' scales are D·softmax(lambda) + 1e-6 with lambda learned
# note: encoders: one network per modality with heads for z and for w[m] (MultiVae's multi-latent encoders)
# note: evaluation draws the private latents of modalities not given from r[m] (MultiVae's reconstruction_option='single_prior'; its default 'joint_prior' draws them from the shared prior)

model mmvaeplus_polymnist
data polymnist

param dim = 32
param wdim = 32
latent z: dim
latent w[m]: wdim
prior p = laplace(scale=1.000001)                       # the prior of (z, w[m]) in the bound
prior r[m] = laplace(scale=learned, eps=1e-6) on w[m]   # w[m] when m's encoder is not given

modality m0: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_conv, from (z, w[m0])
modality m1: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_conv, from (z, w[m1])
modality m2: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_conv, from (z, w[m2])
modality m3: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_conv, from (z, w[m3])
modality m4: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_conv, from (z, w[m4])

posterior q[m] = encoder(m, family=laplace) on (z, w[m])   # q(z, w_m | x_m) = q(z | x_m)·q(w_m | x_m), one network
posterior qz[m] = q[m] on z                               # its factors, for evaluation
posterior qw[m] = q[m] on w[m]
posterior mix = moe(q[*])

maximize iwae(mix -> *, k=10, estimator=dreg, form=looser)

infer S = (moe(qz[S]), qw[S])
train epochs 150, batch 256, optimizer adam(lr=1e-3)
evaluate coherence, latent_probe(samples=10000), fid, elbo
