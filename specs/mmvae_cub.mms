# mmvae on cub
# paper: Shi et al. 2019 (MMVAE; seed 004's MoE baseline), a baseline of seeds 002 and 004
# reproduces: seed 004 Figures 2c/2f (CUB: latent representation and coherence against reconstruction)
# setting: CUB image-captions (the stand-in unless the MMVAE cub.zip files are under the data root): image(3, 64, 64), caption text(32, V); seed 004's CUB setting: latent 128, Laplace(0.75) images, categorical captions, Adam 1e-3, batch 128, 100 epochs
# note: the ELBO form with the Jensen bound of KL(mixture || p) (the mean of the components' KLs); the paper's IWAE/DReG form is mmvae_dreg_mst
# note: networks: MMVAE's CUB image net (conv64) and a 1-D conv caption net (text_conv, 32 -> 8 positions); MMVAE's caption net cub_sent has BatchNorm, whose batch statistics couple the posteriors a step decodes together, so these specs use a CNN without it (seed 004: 'a CNN encoder and decoder' for both modalities)
# note: labels: coherence and latent_probe read the species (the stand-in: the shape); seed 004 probes a 6-class primary-colour label from CUB's attribute files, which the loader does not read; seed 001 compares cosine similarity and FID (text -> image)
# note: the caption vocabulary is the stand-in's 45 words; with the real MMVAE archive (about 1,590 words) change text(32, 45) to that vocabulary size, which `mmspec data show cub` prints

model mmvae_cub
data cub

param dim = 128
param lr = 1e-3
param batch = 128
latent z: dim
prior p = normal()

modality image:   image(3, 64, 64) ~ laplace(scale=0.75), net conv64
modality caption: text(32, 45)     ~ categorical,         net text_conv(channels=128, downsample=2)

posterior q[m] = encoder(m)
posterior mix = moe(q[*])

param beta = 1

maximize rec(mix -> *) - beta * kl(mix || p, estimator=jensen)

infer S = moe(q[S])

train epochs 100, batch batch, optimizer adam(lr=lr)
evaluate coherence, latent_probe(samples=10000), fid, elbo, cosine
