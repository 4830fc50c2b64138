impl :: bincode :: Encode for WithheldTx
{
    fn encode < __E : :: bincode :: enc :: Encoder >
    (& self, encoder : & mut __E) ->core :: result :: Result < (), :: bincode
    :: error :: EncodeError >
    {
        :: bincode :: Encode :: encode(&self.index, encoder) ?; :: bincode ::
        Encode :: encode(&self.tx_leaf, encoder) ?; :: bincode :: Encode ::
        encode(&self.result_leaf, encoder) ?; core :: result :: Result ::
        Ok(())
    }
}