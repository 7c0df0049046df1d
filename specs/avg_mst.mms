# avg on mst
# paper: Hosoya 2018 (AVG aggregation), as an MMVM (seed 004) baseline
# reproduces: seed 001 Table 1 (coherence) and the latent-probe table, MNIST-SVHN-Text
# setting: MNIST-SVHN-Text, seed 001's shared setting: latent 32, Laplace(0.75) images, categorical text, Adam 5e-4, batch 256, 100 epochs
# note: q(z|X): mean of the experts' means and of their standard deviations

model avg_mst
data mst

param dim = 32
latent z: dim
prior p = normal()

modality mnist: image(1, 28, 28) ~ laplace(scale=0.75), net mst_mnist
modality svhn:  image(3, 32, 32) ~ laplace(scale=0.75), net mst_svhn
modality text:  text(8, 71)      ~ categorical,         net mst_text

posterior q[m] = encoder(m)
posterior joint = avg(q[*])

param beta = 1

maximize rec(joint -> *) - beta * kl(joint || p)

infer S = avg(q[S])

train epochs 100, batch 256, optimizer adam(lr=5e-4)
evaluate coherence, latent_probe(samples=10000), levenshtein, fid, elbo, nll(k=12)
