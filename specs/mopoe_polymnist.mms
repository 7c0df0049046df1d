# mopoe on polymnist
# paper: Sutter et al. 2021, Generalized Multimodal ELBO (MoPoE-VAE)
# reproduces: coherence and latent probe on PolyMNIST (MoPoE / MultiVae README numbers)
# setting: PolyMNIST (5 modalities), MoPoE's setting: latent 512, Laplace(0.75), conv nets, Adam 5e-4, batch 256, 300 epochs
# note: the official code adds the prior expert to the full set's product only; this spec follows the paper (no prior expert in any subset)
# note: reconstruction of the mixture: the official code's estimator of the paper's objective: the batch is split among the 2^M - 1 subset posteriors and each item decodes one sample of its own subset's posterior (rec(mix -> *, sampling=stratified), an unbiased estimate of the mean over subsets of rec(qs[S] -> *)); the code splits by batch position, mmspec by a random permutation drawn every step

model mopoe_polymnist
data polymnist

param dim = 512
latent z: dim
prior p = normal()

modality m0: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_conv
modality m1: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_conv
modality m2: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_conv
modality m3: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_conv
modality m4: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_conv

posterior q[m] = encoder(m)
posterior qs[S in subsets(*)] = poe(q[S])
posterior mix = mopoe(q[*])          # the mixture of the subset posteriors qs[S]

param beta = 1

maximize rec(mix -> *, sampling=stratified) - beta * mean S in subsets(*): kl(qs[S] || p)

infer S = poe(q[S])

train epochs 300, batch 256, optimizer adam(lr=5e-4)
evaluate coherence, latent_probe(samples=10000), fid, elbo, nll(k=12)
