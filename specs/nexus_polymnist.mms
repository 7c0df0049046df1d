# nexus on polymnist
# paper: Vasco, Yin, Melo & Paiva 2022, Leveraging hierarchy in multimodal generative models for effective cross-modality inference (Neural Networks 146)
# reproduces: MultiVae's Nexus with its default config (message size 10, mean aggregation, top_beta 1, bottom betas 1, gammas 1, KL warm-up over 20 epochs, dropout_rate 0), on PolyMNIST
# setting: PolyMNIST (5 modalities), a latent z[m] of 32 per modality and a top latent s (Nexus's z_sigma) of 32, Laplace(0.75) images, conv nets, Adam 1e-3, batch 256
# note: two levels: M bottom ELBOs (each modality decoded from its own z[m]) and a top ELBO whose data are the bottom draws, detached (sg): q(s | mean_m msg_m(sg z_m)) and p(z_m | s) = N(sigmoid(f_m(s)), I) (MultiVae's default top networks: MLPs of 512 units)
# note: the top networks read the same draw of z_m the bottom ELBO decodes, as MultiVae does
# note: KL warm-up: MultiVae multiplies both KLs by min(epoch/20, 1) with epochs counted from 1 (1/20 during the whole first epoch); warmup(0 -> 1, epochs=20) rises from 0 at every step, so the weight is up to 1/20 lower during the first 20 epochs and equal after
# note: forced perceptual dropout: normal(given=..., dropout=r) (MultiVae's dropout_rate, default 0): in training an item keeps, with probability r, the messages of a random 1 to M-1 modalities; MultiVae draws the choice with numpy and torch.randperm per item, mmspec from the step's noise, vectorised: the same distribution, not the same draws
# note: evaluation: for a subset S the top latent comes from the messages of S (top[S]), the given modalities' z[m] from their encoders and the others from p(z_m | s) at that draw of s (MultiVae decodes the mean of p(z_m | s))

model nexus_polymnist
data polymnist

param dim = 32                          # the top latent s (MultiVae's latent_dim)
param zdim = 32                         # each modality's latent z[m] (modalities_specific_dim)
param msg = 10                          # the size of each modality's message (msg_dim)
param top_beta = 1
param bottom_beta = 1
param gamma = 1
param dropout = 0                       # forced perceptual dropout rate (dropout_rate)
param anneal = warmup(0 -> 1, epochs=20)

latent z[m]: zdim
latent s: dim
prior p = normal()
prior pz[m] = normal(given=s, hidden=[512], scale=1, link=sigmoid) on z[m]      # p(z_m | s): the top decoders

modality m0: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_conv, from z[m0]
modality m1: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_conv, from z[m1]
modality m2: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_conv, from z[m2]
modality m3: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_conv, from z[m3]
modality m4: image(3, 28, 28) ~ laplace(scale=0.75), net polymnist_conv, from z[m4]

posterior q[m] = encoder(m) on z[m]                                      # the bottom encoders
posterior top[S in subsets(*)] = normal(given=mean m in S: sg(q[m]), message=msg, dropout=dropout) on s   # q(s | msg(z_S))

maximize sum m: (rec(q[m] -> m) - bottom_beta * anneal * kl(q[m] || p))
       + sum m: gamma * rec(top[(m0, m1, m2, m3, m4)] -> sg(q[m]))
       - top_beta * anneal * kl(top[(m0, m1, m2, m3, m4)] || p)

infer S = (q[S], top[S])
train epochs 150, batch 256, optimizer adam(lr=1e-3)
evaluate coherence, latent_probe(samples=10000), fid, elbo
