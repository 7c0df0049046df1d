# mvtcae on polymnist
# paper: Hwang et al. 2021, Multi-View Representation Learning via Total Correlation Objective (MVTCAE)
# reproduces: coherence and latent probe on PolyMNIST (MoPoE / MultiVae README numbers)
# setting: PolyMNIST (5 modalities), MoPoE's setting: latent 512, Laplace(0.75), conv nets, Adam 5e-4, batch 256, 300 epochs
# note: seed 001's form: rec(q_J) - beta sum_{m=0..M} pi_m KL(q_J || q_m), q_0 = p, pi_m = 1/(M+1), q_J = PoE without prior expert
# note: the official code weighs ((M-a)/M) rec - beta[(a/M) sum_m KL(q_J||q_m) + (1-a) KL(q_J||p)] with a = 5/6, beta = 2.5

model mvtcae_polymnist
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
posterior joint = poe(q[*])

param beta = 1
param pi = 1 / (M + 1)

maximize rec(joint -> *) - beta * pi * (kl(joint || p) + sum m: kl(joint || q[m]))

infer S = poe(q[S])

train epochs 300, batch 256, optimizer adam(lr=5e-4)
evaluate coherence, latent_probe(samples=10000), fid, elbo, nll(k=12)
