impl :: bincode :: Encode for SignedTx
{
    fn encode < __E : :: bincode :: enc :: Encoder >
    (& self, encoder : & mut __E) ->core :: result :: Result < (), :: bincode
    :: error :: EncodeError >
    {
        :: bincode :: Encode :: encode(&self.body, encoder) ?; :: bincode ::
        Encode :: encode(&self.signer, encoder) ?; :: bincode :: Encode ::
        encode(&self.signature, encoder) ?; core :: result :: Result :: Ok(())
    }
}