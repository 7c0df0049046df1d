# smvgon on celeba
# paper: seed 002: SMVAE with a variational gradient-origin surrogate posterior (SMVGON)
# reproduces: seed 002 Table 3 (bimodal CelebA: latent representation, mean average precision over the attributes)
# setting: bimodal CelebA (the stand-in unless the MoPoE CelebA files are under the data root): image(3, 64, 64), attribute text(256, 71) with the 71-character alphabet; seed 002's CelebA setting: latent 32, Laplace(0.75) images, categorical text, likelihoods rescaled to the largest modality, Adam 1e-3, batch 256, beta 1, 50 epochs
# note: q_L comes from one gradient step at the origin (methods.md 15), backpropagated through (second order); q_S = PoE over S is pulled towards q_L and test-time inference uses q_S
# note: likelihoods divided by each modality's dimension and multiplied by the largest (weight rescale)
# note: networks: generic residual image net resnet(channels=[32, 64, 128, 256]) (64 -> 32 -> 16 -> 8) and text_conv(channels=128, downsample=3) for the 256-character text, standing in for the residual 2-D / 1-D conv nets of the MoPoE CelebA code the papers follow (the authors' widths are not in shared/methods.md)
# note: labels: coherence and latent_probe read one label, the attribute Male (the stand-in: its shape); attribute_probe gives every attribute's probe accuracy and AUROC and their means (seed 004 Figure 14; seed 002 Table 3 reports their mean average precision, which the metric gives too)

model smvgon_celeba
data celeba

param dim = 32
param lr = 1e-3
param batch = 256
latent z: dim
prior p = normal()

modality image: image(3, 64, 64) ~ laplace(scale=0.75), net resnet(channels=[32, 64, 128, 256]), weight rescale
modality text:  text(256, 71)    ~ categorical,         net text_conv(channels=128, downsample=3), weight rescale

posterior q[m] = encoder(m)
param step = 1 / 18176       # the step of the gradient at the origin: 1 / the largest modality's dimension
posterior ql = gradient_origin(maximize=step * elbo(ql -> *))
posterior qs[S in subsets(*)] = poe(q[S])

param beta = 1

maximize elbo(ql) - beta / 2^M * sum S in subsets(*): kl(qs[S] || ql)

infer S = poe(q[S])

train epochs 50, batch batch, optimizer adam(lr=lr)
evaluate coherence, latent_probe(samples=10000), attribute_probe(samples=10000), fid, elbo, cosine
