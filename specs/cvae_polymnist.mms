# cvae on polymnist
# paper: Sohn, Lee & Yan 2015, Learning Structured Output Representation using Deep Conditional Generative Models (CVAE)
# reproduces: MultiVae's CVAE (multivae.models.CVAE) with its default configuration, on PolyMNIST: m0 generated given m1
# setting: PolyMNIST, m0 (the output) given m1 (the conditioning input, the same digit on another background); latent 10 (MultiVae's default), Gaussian likelihood of scale 1 (MultiVae's decoder_dist "normal"), beta 1, Adam 1e-3
# note: MultiVae's loss: -E_q[log p(x_m0 | z, x_m1)] + beta KL(q(z | x_m0, x_m1) || p(z)), batch means, with p(z) = N(0, I) (its default: no prior network)
# note: the decoder reads z, then x_m1 flattened (MultiVae's ConditionalDecoderMLP: cat([z, x_c.view(B, -1)])); here the PolyMNIST conv decoder, whose first layer reads them (10 + 2352 inputs)
# note: encoder: each input's encoder body, concatenated, two layers of 512 units, Gaussian heads (MultiVae's default MultipleHeadJointEncoder: hidden_dim 512, 2 layers)
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
train epochs 100, batch 256, optimizer adam(lr=1e-3)
evaluate coherence, elbo
