# mvtcae on mst
# paper: Hwang et al. 2021, Multi-View Representation Learning via Total Correlation Objective (MVTCAE)
# reproduces: seed 001 Table 1 (coherence) and the latent-probe table, MNIST-SVHN-Text
# setting: MNIST-SVHN-Text, seed 001's shared setting: latent 32, Laplace(0.75) images, categorical text, Adam 5e-4, batch 256, 100 epochs
# note: seed 001's form: rec(q_J) - beta sum_{m=0..M} pi_m KL(q_J || q_m), q_0 = p, pi_m = 1/(M+1), q_J = PoE without prior expert
# note: the official code weighs ((M-a)/M) rec - beta[(a/M) sum_m KL(q_J||q_m) + (1-a) KL(q_J||p)] with a = 5/6, beta = 2.5

model mvtcae_mst
data mst

param dim = 32
latent z: dim
prior p = normal()

modality mnist: image(1, 28, 28) ~ laplace(scale=0.75), net mst_mnist
modality svhn:  image(3, 32, 32) ~ laplace(scale=0.75), net mst_svhn
modality text:  text(8, 71)      ~ categorical,         net mst_text

posterior q[m] = encoder(m)
posterior joint = poe(q[*])

param beta = 1
param pi = 1 / (M + 1)

maximize rec(joint -> *) - beta * pi * (kl(joint || p) + sum m: kl(joint || q[m]))

infer S = poe(q[S])

train epochs 100, batch 256, optimizer adam(lr=5e-4)
evaluate coherence, latent_probe(samples=10000), levenshtein, fid, elbo, nll(k=12)
