# cvae on polymnist
# paper: Sohn, Lee & Yan 2015, Learning Structured Output Representation using Deep Conditional Generative Models (CVAE)
# reproduces: MultiVae's CVAE (multivae.models.CVAE) with its default configuration, on PolyMNIST: m0 generated given m1
# setting: PolyMNIST, m0 (the output) given m1 (the conditioning input, the same digit on another background); MultiVae's defaults: latent 10, Gaussian likelihood of scale 1 (decoder_dist "normal"), beta 1, and its trainer's 100 epochs, batch 64, Adam 1e-4
# note: MultiVae's loss: -E_q[log p(x_m0 | z, x_m1)] + beta KL(q(z | x_m0, x_m1) || p(z)), batch means, with p(z) = N(0, I) (its default: no prior network)
# note: the decoder reads z, then x_m1 flattened (MultiVae's ConditionalDecoderMLP: cat([z, x_c.view(B, -1)])), through the PolyMNIST conv decoder of the other PolyMNIST specs, whose first layer reads the 10 + 2352 inputs (MultiVae's default network there is an MLP: 512 ReLU units, a sigmoid output)
# note: encoder: each input's encoder body (the PolyMNIST conv body; MultiVae's default: an MLP per modality), concatenated, two layers of 512 units, Gaussian heads (MultiVae's default MultipleHeadJointEncoder: hidden_dim 512, 2 layers)
# note: MultiVae's optional prior network p(z | x_m1) is `prior p = encoder(given=m1, hidden=[512, 512])` (tests/test_multivae_cvae.py)
# note: conditional generation: z ~ p(z), x_m0 ~ p(x_m0 | z, x_m1) (MultiVae's predict(cond_mod=["m1"])); evaluation reports it as the m1 -> m0 pair

model cvae_polymnist
data polymnist

param dim = 10
latent z: dim
prior p = normal()

given m1: image(3, 28, 28), net polymnist_conv                                   # read, never generated
modality m0: image(3, 28, 28) ~ gaussian(scale=1), net polymnist_conv, given m1  # p(x_m0 | z, x_m1)

posterior q = encoder(m0, given=m1, hidden=[512, 512])                          # q(z | x_m0, x_m1)

param beta = 1
maximize rec(q -> m0) - beta * kl(q || p)

infer (m0) = q                      # reconstruction: encode (x_m0, x_m1), decode given x_m1
infer (m1) = p                      # conditional generation: z from the prior, decoded given x_m1
train epochs 100, batch 64, optimizer adam(lr=1e-4)
evaluate coherence, elbo
