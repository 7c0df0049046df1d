# mopoe on celeba
# paper: Sutter et al. 2021 (MoPoE-VAE), a baseline of seeds 001, 002 and 004
# reproduces: seed 001 Figure 4 (bimodal CelebA: cosine similarity, classification accuracy and FID against beta); seed 002 Table 3 (bimodal CelebA: latent representation, mean average precision over the attributes); seed 004 Figures 2b/2e, 12 and 14 (bimodal CelebA: latent representation and coherence against reconstruction, per-attribute probes)
# setting: bimodal CelebA (the stand-in unless the MoPoE CelebA files are under the data root): image(3, 64, 64), attribute text(256, 71) with the 71-character alphabet; seed 001's CelebA setting: latent 64, Laplace(0.75) images, categorical text, Adam 5e-4, batch 256, 200 epochs
# note: the defaults follow seed 001's setting; the experiments for the other papers set dim, lr, batch and epochs per dataset (specs/experiments/)
# note: the official code adds the prior expert to the full set's product only; this spec follows the paper (no prior expert in any subset)
# note: reconstruction of the mixture: one sample of one subset posterior per item (rec(mix -> *, sampling=stratified)), the official code's estimator
# note: networks: generic residual image net resnet(channels=[32, 64, 128, 256]) (64 -> 32 -> 16 -> 8) and text_conv(channels=128, downsample=3) for the 256-character text, standing in for the residual 2-D / 1-D conv nets of the MoPoE CelebA code the papers follow (the authors' widths are not in shared/methods.md)
# note: labels: coherence and latent_probe read one label, the attribute Male (the stand-in: its shape); attribute_probe gives every attribute's probe accuracy and AUROC and their means (seed 004 Figure 14; seed 002 Table 3 reports their mean average precision, which the metric gives too)

model mopoe_celeba
data celeba

param dim = 64
param lr = 5e-4
param batch = 256
latent z: dim
prior p = normal()

modality image: image(3, 64, 64) ~ laplace(scale=0.75), net resnet(channels=[32, 64, 128, 256])
modality text:  text(256, 71)    ~ categorical,         net text_conv(channels=128, downsample=3)

posterior q[m] = encoder(m)
posterior qs[S in subsets(*)] = poe(q[S])
posterior mix = mopoe(q[*])          # the mixture of the subset posteriors qs[S]

param beta = 1

maximize rec(mix -> *, sampling=stratified) - beta * mean S in subsets(*): kl(qs[S] || p)

infer S = poe(q[S])

train epochs 200, batch batch, optimizer adam(lr=lr)
evaluate coherence, latent_probe(samples=10000), attribute_probe(samples=10000), fid, elbo, cosine
