# smvae on polymnist
# paper: seed 002: SMVAE, a surrogate joint posterior trained end to end
# reproduces: seed 002 Table 1 (latent probe)
# setting: PolyMNIST (5 modalities), MoPoE's setting: latent 512, Laplace(0.75), conv nets, Adam 5e-4, batch 256, 300 epochs
# note: likelihoods divided by each modality's dimension and multiplied by the largest (weight rescale)
# note: end to end, as the paper's appendix D recommends over two stages; test-time inference uses q_S = PoE over S

model smvae_polymnist
data polymnist

param dim = 512
latent z: dim
prior p = normal()

modality m0: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_conv, weight rescale
modality m1: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_conv, weight rescale
modality m2: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_conv, weight rescale
modality m3: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_conv, weight rescale
modality m4: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_conv, weight rescale

posterior q[m] = encoder(m)
posterior ql = encoder(*, hidden=[512])
posterior qs[S in subsets(*)] = poe(q[S])

param beta = 1

maximize elbo(ql) - beta / 2^M * sum S in subsets(*): kl(qs[S] || ql)

infer S = poe(q[S])

train epochs 300, batch 256, optimizer adam(lr=1e-3)
evaluate coherence, latent_probe(samples=10000), fid, elbo, nll(k=12)
