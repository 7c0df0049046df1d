# crmvae on celeba
# paper: seed 001: CRMVAE, Eq. 8 with pi_m = 1/(M+1)
# reproduces: seed 001 Figure 4 (bimodal CelebA: cosine similarity, classification accuracy and FID against beta)
# setting: bimodal CelebA (the stand-in unless the MoPoE CelebA files are under the data root): image(3, 64, 64), attribute text(256, 71) with the 71-character alphabet; seed 001's CelebA setting: latent 64, Laplace(0.75) images, categorical text, Adam 5e-4, batch 256, 200 epochs
# note: q_J = PoE(p, q_1..q_M) and unimodal qt_m = PoE(p, q_m), as the paper uses PoE-aggregated unimodal posteriors
# note: networks: generic residual image net resnet(channels=[32, 64, 128, 256]) (64 -> 32 -> 16 -> 8) and text_conv(channels=128, downsample=3) for the 256-character text, standing in for the residual 2-D / 1-D conv nets of the MoPoE CelebA code the papers follow (the authors' widths are not in shared/methods.md)
# note: labels: coherence and latent_probe read one label, the attribute Male (the stand-in: its shape); attribute_probe gives every attribute's probe accuracy and AUROC and their means (seed 004 Figure 14; seed 002 Table 3 reports their mean average precision, which the metric gives too)

model crmvae_celeba
data celeba

param dim = 64
param lr = 5e-4
param batch = 256
latent z: dim
prior p = normal()

modality image: image(3, 64, 64) ~ laplace(scale=0.75), net resnet(channels=[32, 64, 128, 256])
modality text:  text(256, 71)    ~ categorical,         net text_conv(channels=128, downsample=3)

posterior q[m] = encoder(m)
posterior joint = poe(p, q[*])
posterior uni[m] = poe(p, q[m])

param beta = 1
param pi = 1 / (M + 1)

maximize
    pi/2 * rec(joint -> *)
  + pi/2 * sum m: rec(uni[m] -> m)
  - beta * pi * (kl(joint || p) + sum m: kl(joint || q[m]))

infer S = poe(p, q[S])

train epochs 200, batch batch, optimizer adam(lr=lr)
evaluate coherence, latent_probe(samples=10000), attribute_probe(samples=10000), fid, elbo, cosine
