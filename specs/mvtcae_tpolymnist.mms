# mvtcae on tpolymnist
# paper: Hwang et al. 2021 (MVTCAE), in seed 001's form (the coordination-based baseline of seed 001)
# reproduces: seed 001 Figure 2 (right pair: Translated-PolyMNIST) and Figure 6
# setting: Translated-PolyMNIST (5 modalities), seed 001's setting: latent 512, Laplace(0.75), ResNet nets (Daunhawer et al.), beta 0.1, Adam 5e-4, batch 256, 500 epochs
# note: seed 001's form: rec(q_J) - beta sum_{m=0..M} pi_m KL(q_J || q_m), q_0 = p, pi_m = 1/(M+1), q_J = PoE without prior expert
# note: the official code weighs ((M-a)/M) rec - beta[(a/M) sum_m KL(q_J||q_m) + (1-a) KL(q_J||p)] with a = 5/6, beta = 2.5

model mvtcae_tpolymnist
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
posterior joint = poe(q[*])

param beta = 0.1
param pi = 1 / (M + 1)

maximize rec(joint -> *) - beta * pi * (kl(joint || p) + sum m: kl(joint || q[m]))

infer S = poe(q[S])

train epochs 500, batch 256, optimizer adam(lr=5e-4)
evaluate coherence, latent_probe(samples=10000), fid, elbo, nll(k=12)
