# jnf on polymnist
# paper: Senellart, Chadebec & Allassonnière 2023, Improving Multimodal Joint Variational Autoencoders through Normalizing Flows and Correlation Analysis (JNF)
# reproduces: MultiVae's JNF (multivae.models.JNF) with its default configuration, on PolyMNIST
# setting: PolyMNIST (5 modalities), the shared PolyMNIST setting: latent 512, Laplace(0.75), conv nets, Adam 5e-4, batch 256, 300 epochs
# note: MultiVae's defaults: warm-up of 10 epochs (stage joint: the joint VAE, beta 1), then the unimodal posteriors with the joint VAE frozen; one masked autoregressive flow per modality (pythae's MAF: 2 MADE blocks of 3 hidden layers of 128 units)
# note: joint encoder: each modality's encoder body, concatenated, two layers of 512 units, Gaussian heads (MultiVae: copies of the unimodal encoders, two layers of 512)
# note: stage unimodal minimises sum_m KL(qj || qf[m]) by Monte Carlo with one shared draw z ~ qj; MultiVae minimises -sum_m log qf_m(z): the same gradient (qj is frozen), losses differing by sum_m log qj(z) (tests/test_multivae_jnf_telbo.py)
# note: 2 to 4 given modalities: the mixture of their flows (MultiVae samples the product of the flows by Hamiltonian Monte Carlo, which a spec cannot express)

model jnf_polymnist
data polymnist

param dim = 512
latent z: dim
prior p = normal()

modality m0: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_conv
modality m1: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_conv
modality m2: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_conv
modality m3: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_conv
modality m4: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_conv

posterior qj = encoder(*, hidden=[512, 512])
posterior q[m] = encoder(m)
posterior qf[m] = flow(q[m], transforms=2, hidden=[128, 128, 128])

param beta = 1

maximize joint: rec(qj -> *) - beta * kl(qj || p)
minimize unimodal: sum m: kl(qj || qf[m], estimator=mc, k=1)

train batch 256, optimizer adam(lr=5e-4)

stage joint {
    objective joint
    train qj, decoders
    epochs 10
}
stage unimodal {
    objective unimodal
    train qf[*]
    freeze qj, decoders
    epochs 290
}

infer * = qj
infer (m0) = qf[m0]
infer (m1) = qf[m1]
infer (m2) = qf[m2]
infer (m3) = qf[m3]
infer (m4) = qf[m4]
infer S = moe(qf[S])

evaluate coherence, latent_probe(samples=10000), fid, elbo, nll(k=12)
