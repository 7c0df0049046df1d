# alignment on mst
# paper: seed 000 (multimodal iterative amortized inference, MIAI): its alignment-based baseline (methods.md, method 16)
# reproduces: seed 000 Table 1, latent linear probe on MNIST-SVHN-Text, row "alignment-based": M 96.72, S 76.49, T 99.75 (%)
# setting: MNIST-SVHN-Text, seed 000's setting for MST: latent 1024, Adam 2e-4, ExponentialLR gamma 0.98, batch 256 (both stages); Laplace(0.75) images and categorical text as in seed 001's shared setting
# note: stage 1 trains the PoE VAE (method 3, prior expert in the product); stage 2 freezes it and trains separate unimodal encoders r_m by minimising sum_m KL(q_J || r_m)
# note: model selection in stage 2: the epoch with the lowest validation value of sum_m KL(q_J || r_m) (validation split: the runtime holds one out from the training split when the dataset has none)
# note: evaluation infers one given modality with its aligned encoder r_m and several with the source PoE
# note: the number of epochs per stage is not in shared/methods.md; 100 each is this spec's assumption

model alignment_mst
data mst

param dim = 1024
param beta = 1              # the PoE source model's KL weight (poe_mst)
latent z: dim
prior p = normal()

modality mnist: image(1, 28, 28) ~ laplace(scale=0.75), net mst_mnist
modality svhn:  image(3, 32, 32) ~ laplace(scale=0.75), net mst_svhn
modality text:  text(8, 71)      ~ categorical,         net mst_text

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

infer (mnist) = r[mnist]
infer (svhn) = r[svhn]
infer (text) = r[text]
infer S = poe(p, q[S])

evaluate coherence, latent_probe(samples=10000), levenshtein, fid, elbo, nll(k=12)
