# avg on celeba
# paper: Hosoya 2018 (AVG aggregation; seed 004's aggregated VAE), an MMVM (seed 004) baseline
# reproduces: seed 004 Figures 2b/2e, 12 and 14 (bimodal CelebA: latent representation and coherence against reconstruction, per-attribute probes)
# setting: bimodal CelebA (the stand-in unless the MoPoE CelebA files are under the data root): image(3, 64, 64), attribute text(256, 71) with the 71-character alphabet; seed 004's CelebA setting: Adam 2e-4, batch 128, 400 epochs, Laplace images, categorical character text; latent 64 is this spec's choice (seed 004 gives no CelebA latent size)
# note: q(z|X): mean of the experts' means and of their standard deviations
# note: networks: generic residual image net resnet(channels=[32, 64, 128, 256]) (64 -> 32 -> 16 -> 8) and text_conv(channels=128, downsample=3) for the 256-character text, standing in for the residual 2-D / 1-D conv nets of the MoPoE CelebA code the papers follow (the authors' widths are not in shared/methods.md)
# note: labels: coherence and latent_probe read one label, the attribute Male (the stand-in: its shape); attribute_probe gives every attribute's probe accuracy and AUROC and their means (seed 004 Figure 14; seed 002 Table 3 reports their mean average precision, which the metric gives too)

model avg_celeba
data celeba

param dim = 64
param lr = 2e-4
param batch = 128
latent z: dim
prior p = normal()

modality image: image(3, 64, 64) ~ laplace(scale=0.75), net resnet(channels=[32, 64, 128, 256])
modality text:  text(256, 71)    ~ categorical,         net text_conv(channels=128, downsample=3)

posterior q[m] = encoder(m)
posterior joint = avg(q[*])

param beta = 1

maximize rec(joint -> *) - beta * kl(joint || p)

infer S = avg(q[S])

train epochs 400, batch batch, optimizer adam(lr=lr)
evaluate coherence, latent_probe(samples=10000), attribute_probe(samples=10000), fid, elbo, cosine
