# cmvae on polymnist
# paper: Palumbo, Manduchi, Laguna, Chopard & Vogt 2024, Deep Generative Clustering with Multimodal Diffusion Variational Autoencoders (CMVAE, ICLR 2024)
# reproduces: MultiVae's CMVAE with its default config (10 clusters, K = 10, DReG looser, Laplace posteriors and priors, learned private priors, beta 1), without the diffusion decoders (MultiVae has none)
# setting: PolyMNIST (5 modalities), shared latent z of 32 and one private latent w[m] of 32 per modality (as specs/mmvaeplus_polymnist.mms), Laplace(0.75) images, conv nets, Adam 1e-3, batch 256
# note: MMVAE+'s model with a clustered prior on z: p(z) = sum_c pi_c Laplace(z; mu_c, 1 + 1e-6), means and weights learned, scales fixed (MultiVae: softmax(0)·D + 1e-6)
# note: MultiVae writes the bound with an explicit expectation over q(c | z, X) = p(c | z); that expectation equals log p(z), the mixture's exact density, which the spec uses (up to MultiVae's 1e-20 added to q(c | z))
# note: the private latents' prior in the bound is Laplace(0, 1 + 1e-6) (MultiVae's p(w)); decoding m from modality j's posterior draws w[m] from its learned prior r[m]
# note: encoders: one network per modality with heads for z and for w[m] (MultiVae's multi-latent encoders)
# note: evaluation draws the private latents of modalities not given from r[m] (MultiVae's reconstruction_option='single_prior'; its default 'joint_prior' draws them from the shared prior)

model cmvae_polymnist
data polymnist

param dim = 32
param wdim = 32
latent z: dim
latent w[m]: wdim
prior pz = mog(k=10, learn=[means, weights], family=laplace, scale=1.000001) on z   # the clusters
prior r[m] = laplace(scale=learned, eps=1e-6) on w[m]   # w[m] when m's encoder is not given
prior pw[m] = laplace(scale=1.000001) on w[m]           # the prior of w[m] in the bound
prior p = (pz, pw[*])                                   # p(z, w[m]) = pz(z)·pw[m](w[m])

modality m0: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_conv, from (z, w[m0])
modality m1: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_conv, from (z, w[m1])
modality m2: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_conv, from (z, w[m2])
modality m3: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_conv, from (z, w[m3])
modality m4: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_conv, from (z, w[m4])

posterior q[m] = encoder(m, family=laplace) on (z, w[m])   # q(z, w_m | x_m) = q(z | x_m)·q(w_m | x_m), one network
posterior qz[m] = q[m] on z                               # its factors, for evaluation
posterior qw[m] = q[m] on w[m]
posterior mix = moe(q[*])

maximize iwae(mix -> *, k=10, estimator=dreg, form=looser, prior=p)

infer S = (moe(qz[S]), qw[S])
train epochs 150, batch 256, optimizer adam(lr=1e-3)
evaluate coherence, latent_probe(samples=10000), fid, elbo
