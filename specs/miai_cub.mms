# miai on cub
# paper: seed 000: multimodal iterative amortized inference (MIAI), iterative amortized inference after Marino et al. 2018
# reproduces: seed 000 Table 3 (CUB: FID text -> image, cosine similarity), the proposed row (specs/experiments/seed000_table3_cub.mmx); seed 000's Fig. 4 protocol on CUB image-captions (multimodal ELBO against the number of refinement steps T = 1..16, PoE source model as reference) and the cosine similarity of unimodal latent means
# setting: CUB image-captions (the stand-in unless the MMVAE cub.zip files are under the data root), MMVAE's CUB nets (conv64, cub_sent), T = 8 refinement steps in training, Adam 2e-4, ExponentialLR gamma 0.98, batch 256, Laplace(0.75) images, categorical captions
# note: the same two stages as miai_mst: the PoE source model, then update networks r[m] refining its unimodal posteriors with the gradient of the multimodal ELBO, and encoders a[m] aligned to the refined posteriors
# note: latent 64 is MMVAE's CUB latent size (methods.md gives none for CUB); update-network width 512 and 100 epochs per stage are this spec's choices
# note: the caption vocabulary is the stand-in's 45 words; with the real MMVAE archive (about 1,590 words) change text(32, 45) to that vocabulary size, which `mmspec data show cub` prints

model miai_cub
data cub

param dim = 64
param T = 8                 # refinement steps while training
param beta = 1              # the PoE source model's KL weight (poe_mst)
latent z: dim
prior p = normal()

modality image:   image(3, 64, 64) ~ laplace(scale=0.75), net conv64
modality caption: text(32, 45)     ~ categorical,         net cub_sent

posterior q[m] = encoder(m)
posterior joint = poe(p, q[*])
posterior r[m] = refine(poe(p, q[m]), maximize=elbo(r[m] -> *), steps=T, eval_steps=16,
                        grad=detached, loss=mean, hidden=512)
posterior a[m] = encoder(m)

maximize source: elbo(joint, beta=beta)
maximize refinement: sum m: elbo(r[m]) - sum m: kl(sg(r[m]) || a[m])

stage source { objective source  train q[*], decoders }
stage refinement { objective refinement  freeze q[*], decoders }

infer * = joint
infer S = poe(p, a[S])

train epochs 100, batch 256, optimizer adam(lr=2e-4), scheduler exponential(gamma=0.98)
evaluate cosine, latent_probe(samples=10000), elbo, refinement_curve(steps=16)
