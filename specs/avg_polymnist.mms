# avg on polymnist
# paper: Hosoya 2018 (AVG aggregation), as an MMVM (seed 004) baseline
# reproduces: coherence and latent probe on PolyMNIST (MoPoE / MultiVae README numbers)
# setting: PolyMNIST (5 modalities), MoPoE's setting: latent 512, Laplace(0.75), conv nets, Adam 5e-4, batch 256, 300 epochs
# note: q(z|X): mean of the experts' means and of their standard deviations

model avg_polymnist
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
posterior joint = avg(q[*])

param beta = 1

maximize rec(joint -> *) - beta * kl(joint || p)

infer S = avg(q[S])

train epochs 300, batch 256, optimizer adam(lr=5e-4)
evaluate coherence, latent_probe(samples=10000), fid, elbo, nll(k=12)
