# mopoe on mst
# paper: Sutter et al. 2021, Generalized Multimodal ELBO (MoPoE-VAE)
# reproduces: seed 001 Table 1 (coherence) and the latent-probe table, MNIST-SVHN-Text
# setting: MNIST-SVHN-Text, seed 001's shared setting: latent 32, Laplace(0.75) images, categorical text, Adam 5e-4, batch 256, 100 epochs
# note: the official code adds the prior expert to the full set's product only; this spec follows the paper (no prior expert in any subset)
# note: reconstruction of the mixture: the official code's estimator of the paper's objective: the batch is split among the 2^M - 1 subset posteriors and each item decodes one sample of its own subset's posterior (rec(mix -> *, sampling=stratified), an unbiased estimate of the mean over subsets of rec(qs[S] -> *)); the code splits by batch position, mmspec by a random permutation drawn every step

model mopoe_mst
data mst

param dim = 32
latent z: dim
prior p = normal()

modality mnist: image(1, 28, 28) ~ laplace(scale=0.75), net mst_mnist
modality svhn:  image(3, 32, 32) ~ laplace(scale=0.75), net mst_svhn
modality text:  text(8, 71)      ~ categorical,         net mst_text

posterior q[m] = encoder(m)
posterior qs[S in subsets(*)] = poe(q[S])
posterior mix = mopoe(q[*])          # the mixture of the subset posteriors qs[S]

param beta = 1

maximize rec(mix -> *, sampling=stratified) - beta * mean S in subsets(*): kl(qs[S] || p)

infer S = poe(q[S])

train epochs 100, batch 256, optimizer adam(lr=5e-4)
evaluate coherence, latent_probe(samples=10000), levenshtein, fid, elbo, nll(k=12)
