# mvae on cub
# paper: Wu & Goodman 2018 (MVAE), a baseline of seeds 001 and 002
# reproduces: seed 001 Figure 3 (CUB: cosine similarity and FID text -> image against beta)
# setting: CUB image-captions (the stand-in unless the MMVAE cub.zip files are under the data root): image(3, 64, 64), caption text(32, V); seed 001's CUB setting: latent 64, Laplace(0.75) images, categorical captions, Adam 5e-4, batch 256, 150 epochs
# note: joint ELBO plus one ELBO per modality, each reconstructing only its own modality (unimodal NLL weight 1, as in the MoPoE code)
# note: networks: MMVAE's CUB image net (conv64) and a 1-D conv caption net (text_conv, 32 -> 8 positions); MMVAE's caption net cub_sent has BatchNorm, whose batch statistics couple the posteriors a step decodes together, so these specs use a CNN without it (seed 004: 'a CNN encoder and decoder' for both modalities)
# note: labels: coherence and latent_probe read the species (the stand-in: the shape); seed 004 probes a 6-class primary-colour label from CUB's attribute files, which the loader does not read; seed 001 compares cosine similarity and FID (text -> image)
# note: the caption vocabulary is the stand-in's 45 words; with the real MMVAE archive (about 1,590 words) change text(32, 45) to that vocabulary size, which `mmspec data show cub` prints

model mvae_cub
data cub

param dim = 64
param lr = 5e-4
param batch = 256
latent z: dim
prior p = normal()

modality image:   image(3, 64, 64) ~ laplace(scale=0.75), net conv64
modality caption: text(32, 45)     ~ categorical,         net text_conv(channels=128, downsample=2)

posterior q[m] = encoder(m)
posterior joint = poe(p, q[*])
posterior uni[m] = poe(p, q[m])

param beta = 1

maximize elbo(joint, beta=beta) + sum m: elbo(uni[m] -> m, beta=beta)

infer S = poe(p, q[S])

train epochs 150, batch batch, optimizer adam(lr=lr)
evaluate coherence, latent_probe(samples=10000), fid, elbo, cosine
