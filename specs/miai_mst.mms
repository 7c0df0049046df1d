# miai on mst
# paper: seed 000: multimodal iterative amortized inference (MIAI), iterative amortized inference after Marino et al. 2018
# reproduces: seed 000 Table 1 (latent probe: M 98.15, S 78.50, T 99.97 %) and Fig. 4 (multimodal ELBO against the number of refinement steps, PoE source model as reference)
# setting: MNIST-SVHN-Text, seed 000's setting: latent 1024, T = 8 refinement steps in training (T = 1..16 in Fig. 4), Adam 2e-4, ExponentialLR gamma 0.98, batch 256; Laplace(0.75) images, categorical text (the shared MoPoE setting)
# note: stage 1 trains the PoE source model (methods.md 3); stage 2 freezes it and trains the update networks r[m] and the aligned unimodal encoders a[m]
# note: r[m] starts from the source model's unimodal posterior poe(p, q[m]) and follows the gradient of the multimodal ELBO elbo(r[m] -> *), which reads all three modalities although q[m] reads only x_m
# note: as in Marino et al.'s reference implementation, gradients enter the update network detached (first order) and the update network trains on the mean over iterations of the ELBO (loss=mean); the decoders stay frozen in stage 2, so the reference's "decoder on the final ELBO" does not arise
# note: alignment (methods.md 17, stage 2): KL(sg(r[m]) || a[m]) with the refined posterior as target; it only reaches a[m], so it shares stage 2 with the refinement's ELBO without changing its gradients. Test-time inference from a subset uses poe(p, a[S])
# note: this spec's choices where methods.md gives none: update-network width 512, 100 epochs per stage

model miai_mst
data mst

param dim = 1024
param T = 8                 # refinement steps while training
param beta = 1              # the PoE source model's KL weight (poe_mst)
latent z: dim
prior p = normal()

modality mnist: image(1, 28, 28) ~ laplace(scale=0.75), net mst_mnist
modality svhn:  image(3, 32, 32) ~ laplace(scale=0.75), net mst_svhn
modality text:  text(8, 71)      ~ categorical,         net mst_text

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
evaluate latent_probe(samples=10000), coherence, levenshtein, elbo, refinement_curve(steps=16)
