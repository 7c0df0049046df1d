# alignment on cub
# paper: seed 000 (multimodal iterative amortized inference, MIAI): its alignment-based baseline (methods.md, method 16)
# reproduces: seed 000 Table 3 (CUB: FID text -> image, cosine similarity of image and caption latent means), the alignment-based row (specs/experiments/seed000_table3_cub.mmx); the embedded stand-in unless cub/ files are under the data root
# setting: CUB image-captions with MMVAE's networks (conv64 images, cub_sent captions), latent 64 as MMVAE's CUB model, Adam 2e-4, ExponentialLR gamma 0.98, batch 256 (both stages), as seed 000 trains on MST
# note: stage 1 trains the PoE VAE (method 3, prior expert in the product); stage 2 freezes it and trains separate unimodal encoders r_m by minimising sum_m KL(q_J || r_m), keeping the epoch with the lowest validation value
# note: caption vocabulary: text(32, 45) is the stand-in's vocabulary; the real cub.zip vocabulary is larger (tokens seen more than 3 times), so write its size here for the real files
# note: seed 000's CUB latent size, likelihoods and epochs are not in shared/methods.md: latent 64, Laplace(0.75) images, categorical captions and 100 epochs per stage are this spec's assumptions
# note: stage 2 keeps the frozen caption network's BatchNorm statistics as stage 1 left them (frozen modules run in eval mode)

model alignment_cub
data cub

param dim = 64
param beta = 1              # the PoE source model's KL weight (poe_mst)
latent z: dim
prior p = normal()

modality image:   image(3, 64, 64) ~ laplace(scale=0.75), net conv64
modality caption: text(32, 45)     ~ categorical,         net cub_sent

posterior q[m] = encoder(m)           # the experts of the PoE source model
posterior joint = poe(p, q[*])        # the source posterior q_J
posterior r[m] = encoder(m)           # the unimodal encoders aligned to q_J in stage 2

maximize source: elbo(joint, beta=beta)
minimize align: sum m: kl(joint || r[m])

train batch 256, optimizer adam(lr=2e-4), scheduler exponential(gamma=0.98)

stage source {
    objective source
    train q[*], decoders
    epochs 100
}

stage align {
    objective align
    train r[*]
    freeze q[*], decoders
    epochs 100
    select min align
}

infer (image) = r[image]
infer (caption) = r[caption]
infer S = poe(p, q[S])

evaluate coherence, latent_probe, fid, elbo, cosine
