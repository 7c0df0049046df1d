# mmvm on the five-rat hippocampal recordings (own data)
# paper: seed 004: MMVM VAE, a data-dependent mixture-of-posteriors prior per modality (Sutter et al. 2024)
# reproduces: seed 004's section 5.2 setting (Figure 3: latent probe of the odor and coherence against reconstruction loss, over beta)
# setting: five rats as five vector modalities (92, 79, 104, 49, 46 neurons x 10 bins of 10 ms), 100 ms sliding windows, four odors; MLPs with two hidden layers as wide as the input (Appendix B.8.2), Adam 1e-3, batch 128, 1000 epochs
# data: the real recordings are not public in this layout; `mmspec data standin neural --out specs/owndata/neural`
#       writes a stand-in with the same structure (odor-tuned Poisson spike counts per rat; runtime/data/standin/neural.py)
# note: LeakyReLU here has mmspec's slope 0.2 (the paper: 0.01); Gaussian likelihood on the counts; latent size 32 is this spec's choice (the paper plots 2-d latents)

model mmvm_neural
data neural {
    files "neural"                                 # next to this spec, else under the data root
    modality rat1 from "neural.npz"["rat1"]
    modality rat2 from "neural.npz"["rat2"]
    modality rat3 from "neural.npz"["rat3"]
    modality rat4 from "neural.npz"["rat4"]
    modality rat5 from "neural.npz"["rat5"]
    label odor from "neural.npz"["odor"]
    split from "neural.npz"["split"]               # by trial: a trial's windows stay together
}

param dim = 32
latent z[m]: dim

modality rat1: vector(920)  ~ gaussian(scale=1), net mlp(hidden=[920, 920], activation=leaky_relu)
modality rat2: vector(790)  ~ gaussian(scale=1), net mlp(hidden=[790, 790], activation=leaky_relu)
modality rat3: vector(1040) ~ gaussian(scale=1), net mlp(hidden=[1040, 1040], activation=leaky_relu)
modality rat4: vector(490)  ~ gaussian(scale=1), net mlp(hidden=[490, 490], activation=leaky_relu)
modality rat5: vector(460)  ~ gaussian(scale=1), net mlp(hidden=[460, 460], activation=leaky_relu)

posterior q[m] = encoder(m)
prior h[m] = moe(q[*]) on z[m]

param beta = 0.001

maximize sum m: rec(q[m] -> m) - beta * sum m: kl(q[m] || h[m], estimator=jensen)

infer S = moe(q[S])

train epochs 1000, batch 128, optimizer adam(lr=1e-3)
evaluate coherence, latent_probe, elbo
