# mmvae on celeba
# paper: Shi et al. 2019 (MMVAE; seed 004's MoE baseline), a baseline of seeds 002 and 004
# reproduces: seed 002 Table 3 (bimodal CelebA: latent representation, mean average precision over the attributes); seed 004 Figures 2b/2e, 12 and 14 (bimodal CelebA: latent representation and coherence against reconstruction, per-attribute probes)
# setting: bimodal CelebA (the stand-in unless the MoPoE CelebA files are under the data root): image(3, 64, 64), attribute text(256, 71) with the 71-character alphabet; seed 002's CelebA setting: latent 32, Laplace(0.75) images, categorical text, likelihoods rescaled to the largest modality, Adam 1e-3, batch 256, beta 1, 50 epochs
# note: the defaults follow seed 002's setting; the experiments for the other papers set dim, lr, batch and epochs per dataset (specs/experiments/)
# note: the ELBO form with the Jensen bound of KL(mixture || p) (the mean of the components' KLs); the paper's IWAE/DReG form is mmvae_dreg_mst
# note: networks: generic residual image net resnet(channels=[32, 64, 128, 256]) (64 -> 32 -> 16 -> 8) and text_conv(channels=128, downsample=3) for the 256-character text, standing in for the residual 2-D / 1-D conv nets of the MoPoE CelebA code the papers follow (the authors' widths are not in shared/methods.md)
# note: labels: coherence and latent_probe read one label, the attribute Male (the stand-in: its shape); attribute_probe gives every attribute's probe accuracy and AUROC and their means (seed 004 Figure 14; seed 002 Table 3 reports their mean average precision, which the metric gives too)

model mmvae_celeba
data celeba

param dim = 32
param lr = 1e-3
param batch = 256
latent z: dim
prior p = normal()

modality image: image(3, 64, 64) ~ laplace(scale=0.75), net resnet(channels=[32, 64, 128, 256])
modality text:  text(256, 71)    ~ categorical,         net text_conv(channels=128, downsample=3)

posterior q[m] = encoder(m)
posterior mix = moe(q[*])

param beta = 1

maximize rec(mix -> *) - beta * kl(mix || p, estimator=jensen)

infer S = moe(q[S])

train epochs 50, batch batch, optimizer adam(lr=lr)
evaluate coherence, latent_probe(samples=10000), attribute_probe(samples=10000), fid, elbo, cosine
