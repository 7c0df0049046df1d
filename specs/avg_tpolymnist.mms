# avg on tpolymnist
# paper: Hosoya 2018 (AVG aggregation), as an MMVM (seed 004) baseline
# reproduces: seed 004's translated-PolyMNIST comparison (MMVM VAE and baselines)
# setting: translated PolyMNIST, MMVM's setting: 3 views, ResNet nets, latent 512, Adam 5e-4, batch 128
# note: q(z|X): mean of the experts' means and of their standard deviations

model avg_tpolymnist
data tpolymnist

param dim = 512
latent z: dim
prior p = normal()

modality m0: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_resnet
modality m1: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_resnet
modality m2: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_resnet

posterior q[m] = encoder(m)
posterior joint = avg(q[*])

param beta = 1

maximize rec(joint -> *) - beta * kl(joint || p)

infer S = avg(q[S])

train epochs 300, batch 128, optimizer adam(lr=5e-4)
evaluate coherence, latent_probe(samples=10000), fid, elbo
