# mopoe5 on tpolymnist
# paper: Sutter et al. 2021, Generalized Multimodal ELBO (MoPoE-VAE), the mixture-based baseline of seed 001
# reproduces: seed 001 Figure 2 (right pair: Translated-PolyMNIST) and Figure 6; all five views (mopoe_tpolymnist is seed 004's three-view setting)
# setting: Translated-PolyMNIST (5 modalities), seed 001's setting: latent 512, Laplace(0.75), ResNet nets (Daunhawer et al.), beta 0.1, Adam 5e-4, batch 256, 500 epochs
# note: the official code adds the prior expert to the full set's product only; this spec follows the paper (no prior expert in any subset)
# note: reconstruction of the mixture: the official code's estimator of the paper's objective: the batch is split among the 2^M - 1 subset posteriors and each item decodes one sample of its own subset's posterior (rec(mix -> *, sampling=stratified), an unbiased estimate of the mean over subsets of rec(qs[S] -> *)); the code splits by batch position, mmspec by a random permutation drawn every step

model mopoe5_tpolymnist
data tpolymnist

param dim = 512
latent z: dim
prior p = normal()

modality m0: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_resnet
modality m1: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_resnet
modality m2: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_resnet
modality m3: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_resnet
modality m4: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_resnet

posterior q[m] = encoder(m)
posterior qs[S in subsets(*)] = poe(q[S])
posterior mix = mopoe(q[*])          # the mixture of the subset posteriors qs[S]

param beta = 0.1

maximize rec(mix -> *, sampling=stratified) - beta * mean S in subsets(*): kl(qs[S] || p)

infer S = poe(q[S])

train epochs 500, batch 256, optimizer adam(lr=5e-4)
evaluate coherence, latent_probe(samples=10000), fid, elbo, nll(k=12)
